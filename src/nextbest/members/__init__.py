"""Operations on whole members: probabilistic merges, the review queue, unmerge."""
