//! Fragment boxes (moof + mdat) as Smooth Streaming players expect them.
