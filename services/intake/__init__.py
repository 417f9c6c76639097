"""Intake: every channel normalised into one contact; customers identified and graded; follow-ups threaded."""
