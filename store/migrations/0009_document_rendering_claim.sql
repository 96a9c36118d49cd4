-- A document is rendered on its first download. The API process that claims the rendering
-- sets this, and renders; the others, asked for it at the same moment, wait for its bytes. A
-- claim past its time (its process died while rendering) is taken over by the next reader.
ALTER TABLE documents ADD COLUMN rendering_until timestamptz;
