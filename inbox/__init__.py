"""The inbox: a WhatsApp-Web-like page for a company's agents, served under /inbox."""
