//! EMS's config status codes, as listConfig shows them in `status.current.code`: shared by
//! MSS outputs (Streaming, Waiting for stream, Disconnected) and pulls (all of them).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigStatus {
    Streaming = 0,
    Connecting = 1,
    WaitingForStream = 2,
    Connected = 3,
    Disconnected = 4,
    ConnectionFailed = 5,
}

impl ConfigStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn description(self) -> &'static str {
        match self {
            ConfigStatus::Streaming => "Streaming",
            ConfigStatus::Connecting => "Connecting",
            ConfigStatus::WaitingForStream => "Waiting for stream",
            ConfigStatus::Connected => "Connected",
            ConfigStatus::Disconnected => "Disconnected",
            ConfigStatus::ConnectionFailed => "Connection failed",
        }
    }
}
