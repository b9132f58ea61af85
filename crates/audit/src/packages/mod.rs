//! Which package ships a file: the root's dpkg database, or an object's `.note.package`.
