"""Marketing: greetings (birthday, holidays), segments, campaigns, consent and opt-out."""
