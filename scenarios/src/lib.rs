//! Workloads, fault plans and checks bound into runnable scenarios
