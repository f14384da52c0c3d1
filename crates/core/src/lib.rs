//! chokepoint-core: the domain of critical-mineral supply chains and the engine that
//! simulates them. No scripting and no I/O beyond reading model files.

pub mod date;
pub mod element;
pub mod error;
pub mod load;
pub mod locate;
pub mod model;
pub mod model_file;
pub mod policy;

pub use date::Date;
pub use error::{ModelError, Problem};
pub use load::{load, load_str};
pub use model::Model;
pub use policy::{Policy, PolicyKind};
pub mod series;
pub mod sim;
pub use series::Series;
pub use sim::Sim;
