//! TCP connect probes against a listener whose SYN-ACKs the test holds for a known time.
