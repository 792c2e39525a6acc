"""Stored value: counter and WeChat Pay top-ups with their bonus, paying with stored value at
the till (split tenders), refunds, the liability and the settlement between owners."""
