"""The support agent's evaluation: labelled cases (tune/, check/) run through the HTTP API."""
