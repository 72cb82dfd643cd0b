"""Changes to the program proposed (by people now, by optimising agents later) that wait
for a person's approval before they apply; every step is audited."""
