//! Which package ships a file: the root's dpkg database, or an object's `.note.package`;
//! and the package metadata an image carries for scanners (`status.d`).

pub(crate) mod deb822;
mod dpkg;
mod error;
mod license;
mod note;
mod status_d;

pub use dpkg::{Package, Packages};
pub use error::Error;
pub use license::license;
pub use note::{PACKAGE_NOTE_OWNER, PACKAGE_NOTE_TYPE, from_package_note};
pub use status_d::{Md5sums, STATUS_D, md5sums_file};
