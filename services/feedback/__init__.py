"""Feedback: survey policies, invitations, the survey page, responses, follow-ups and satisfaction figures."""
