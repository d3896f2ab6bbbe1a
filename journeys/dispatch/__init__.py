"""Dispatch: stored events handed to Temporal (the dispatcher: signal-with-start or a
signal per journey), and the outbox that retries until Temporal has taken each one."""
