"""The patient upload service: invite link → date of birth → consent → resumable uploads (tus 1.0) → send."""
