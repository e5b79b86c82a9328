"""The network's own work: patrols of overseas stations, trainings, preventive-safety talks, drills,
joint meetings, and the register of risk points with their measures."""
