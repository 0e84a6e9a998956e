"""What lets several Rasa workers (`WORKERS=N`) share the work: locks and messages.

- `locks.py`: the conversation lock store (`endpoints.yml`'s `lock_store`): in the
  process's memory for one worker, in Redis with atomic updates for several.
- `pubsub.py`: the chat's socket.io messages between workers through Redis, each
  worker with its own id, so a staff reply reaches a patient connected to another.
"""
