"""Files written for people to look at: HTML pages and workflow strips/GIFs."""
