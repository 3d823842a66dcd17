"""The NEET internship programme after the rota (issue 5/6): feedback, coaching, control group, follow-ups."""
