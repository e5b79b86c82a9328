"""Writing alerts: the compose form, the checks and operations that move an alert through its life,
its cost before approval, CAP export and feeds, and the coordinators' alert pages."""
