//! Which package ships a file: the root's dpkg database, or an object's `.note.package`.

mod deb822;
mod dpkg;
mod error;
mod license;
mod note;

pub use dpkg::{Package, Packages};
pub use error::Error;
pub use license::license;
pub use note::{PACKAGE_NOTE_OWNER, PACKAGE_NOTE_TYPE, from_package_note};
