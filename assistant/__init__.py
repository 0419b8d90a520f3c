"""guidecode's front door: configuration, model loading, prompts, cursor context and the Assistant."""
