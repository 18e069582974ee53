"""Mem0's documented Python quickstart, unchanged except for the import line.

Run against the real local models: the test sets MEMLAYER_DB and
MEMLAYER_CHAT (SmolLM2 in CI for speed). Exits non-zero if a step fails.
"""

# from mem0 import Memory
from memlayer import Memory

m = Memory()

# Store a conversation
messages = [
    {"role": "user", "content": "Hi, I'm Alex. I'm a vegetarian and I'm allergic to nuts."},
    {"role": "assistant", "content": "Hello Alex! I've noted that you're a vegetarian and have a nut allergy."},
]
result = m.add(messages, user_id="alex", metadata={"category": "health"})
print("add:", result)

# Search (Mem0 2.x: the ids go in filters)
related = m.search("What are Alex's dietary restrictions?", filters={"user_id": "alex"}, top_k=3)
print("search:", [(r["memory"], round(r["score"], 3)) for r in related["results"]])

# Get everything
all_memories = m.get_all(filters={"user_id": "alex"})
print("get_all:", [r["memory"] for r in all_memories["results"]])

# Update one
memory_id = all_memories["results"][0]["id"]
print("get:", m.get(memory_id)["memory"])
print("update:", m.update(memory_id=memory_id, data="Alex is vegan"))

# History of that memory
history = m.history(memory_id=memory_id)
print("history:", [(h["event"], h["old_memory"], h["new_memory"]) for h in history])

# Clean up
print("delete_all:", m.delete_all(user_id="alex"))
print("after:", m.get_all(filters={"user_id": "alex"})["results"])
