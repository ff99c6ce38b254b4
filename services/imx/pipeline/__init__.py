"""Pipeline stages as pure functions over domain dicts (CONTRACT.md section 5).

Nothing here touches Kafka or the clock: the stream-processing agents read records, call these
rules with the state they hold, and write the results.
"""
