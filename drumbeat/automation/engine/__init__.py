"""The campaign engine: set-based enrolment, execution, message events and the runner."""
