/// Why a recipe could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--gconv` names a character set no gconv module converts.
    #[error(
        "--gconv {charset}: no gconv module in {} converts it (glibc's built-in sets, such as UTF-8, need none)",
        dir.display()
    )]
    UnknownCharset {
        charset: String,
        dir: std::path::PathBuf,
    },
    /// A configuration the program would refuse to start with.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A module the configuration loads is not in the root: the server would not start.
    #[error("{at}: {} is not there; the server would not start", path.display())]
    MissingModule {
        at: crate::ConfigLine,
        path: std::path::PathBuf,
    },
    /// A `.note.dlopen` note that is not the JSON the specification describes.
    #[error("{object}: .note.dlopen: {reason}")]
    BadNote { object: String, reason: String },
}
