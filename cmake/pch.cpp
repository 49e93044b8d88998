// Translation unit that owns the shared precompiled header (see diffmem_area.cmake).
