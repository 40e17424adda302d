//! Choosing where a request goes: key order within an upstream and the
//! cooldowns that rest failing keys. (Model mapping lives with the config:
//! `config::ModelMapping`.)

pub mod keys;
