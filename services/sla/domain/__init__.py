"""The SLA rules, pure: calendars and working time, policies and their selection, the clock state machine."""
