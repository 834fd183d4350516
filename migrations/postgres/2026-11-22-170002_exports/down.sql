DROP TABLE reassign_requests;
DROP TABLE reassignments;
DROP TABLE decoys;
DROP TABLE export_seeds;
DROP TABLE export_files;
DROP TABLE exports;
