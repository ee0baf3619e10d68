//! EMS and IIS naming rules.
