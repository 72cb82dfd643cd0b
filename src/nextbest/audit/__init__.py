"""The data-readiness audit: is this data good enough to run loyalty AI on?"""
