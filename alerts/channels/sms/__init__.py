"""What an SMS is: how a text is encoded and counted in segments, as Twilio does, and the system's
own SMS texts in every supported language."""
