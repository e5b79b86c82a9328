"""What a message is on each channel the alerts reach people by (SMS today)."""
