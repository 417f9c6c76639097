-- The contact's level-2/3 category (from contact.received and contact.reclassified), for the figures by sub-type.
ALTER TABLE contact_fact ADD COLUMN subcategory text;
