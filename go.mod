module github.com/kubectl-netflow/kubectl-netflow

go 1.26
