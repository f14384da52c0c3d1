//! The script API, one module per area of levers.

pub mod capacity;
pub mod demand;
pub mod expect;
pub mod government;
pub mod query;
pub mod time;
pub mod trade;
