"""The development stack (`make dev`): the Temporal binaries, the mail catcher, the stack runner."""
