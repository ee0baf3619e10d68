//! The presentation state machine.
pub struct Presentation;
pub struct PresentationOptions;
pub enum Output {}
