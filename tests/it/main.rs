//! The integration tests, one binary: each module is a topic, and every test starts real
//! workers, sends real signals and uses real FIFOs. One binary links once.

mod support;

mod audit;
mod axum_worker;
mod bad_input;
mod budget_attacks;
mod budgets;
mod clients;
mod container;
mod contract;
mod diagnostics;
mod discovery;
mod docs;
mod faults;
mod fleet;
mod fuzz;
mod give_back;
mod hijack;
mod host_safety;
mod hygiene;
mod impostors;
mod newcomer;
mod planted;
mod prefork;
mod queue_worker;
mod session;
mod shell;
mod stacks;
mod terminal;
mod under_attack;
mod views;
mod watch;
