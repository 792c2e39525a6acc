"""Applying a rule decision's effects to a member, for every occasion (purchase, refund,
top-up, signup, referral, birthday, expiry, schedule), and the daily member events."""
