"""Route planning: day plans with time windows, re-planning, week plans, exports."""
