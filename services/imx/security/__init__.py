"""Identity, transport and authorisation (CONTRACT.md section 10).

``principals`` derives every principal and its ACLs from the registry (the one place, reused for
the local ``imx security apply`` and for Strimzi ``KafkaUser`` resources); ``plan`` is the pure
difference between what the broker should hold and what it holds.
"""
