//! Aurora PostgreSQL, reached only through the RDS Data API: the adapter ([`data_api`]), the
//! schema migrations and the read-only user ([`migrate`]), the demo data ([`seed`]), and
//! amounts of money as exact decimals ([`money`]). The tools that read it live in
//! [`crate::tools::aurora`].

pub mod data_api;
pub mod migrate;
pub mod money;
pub mod seed;
