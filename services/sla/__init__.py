"""SLA: policies, business calendars, durable clocks, warnings, breaches and escalations."""
