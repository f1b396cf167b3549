module github.com/sparkrun/sparkrun

go 1.25
