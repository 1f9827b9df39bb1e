"""The domain: the records the agents work on, its errors, and the rules every adapter shares
(which callback URLs are allowed, how customers' words are matched, who may claim an inquiry)."""
