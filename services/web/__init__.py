"""The web gateway: the agent workspace and the supervisor wallboard on one origin, with sign-in."""
