"""Hidden graders: one pytest module per topic. Never shipped to students."""
