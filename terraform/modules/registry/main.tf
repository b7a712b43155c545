module "kms" {
  source = "../kms-key"

  alias       = "ecr-${var.name}"
  description = "ECR repository ${var.name}"
  tags        = var.tags
}

# One repository for every environment: prod runs the very digest dev ran.
resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.kms.arn
  }

  tags = var.tags
}

# ECR applies the rules in rulePriority order, and an image selected by a rule's tag
# requirements cannot be expired by a rule of lower priority: rule 1 selects the release
# images (v*, which also carry their SHA tag) and keeps them, so rule 3 never counts them.
resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep release images (v*): prod runs and rolls back to them"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = [var.release_tag_pattern]
          countType      = "imageCountMoreThan"
          countNumber    = var.keep_release_count
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Expire untagged images after ${var.untagged_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Keep the newest ${var.keep_image_count} other tagged images"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["*"]
          countType      = "imageCountMoreThan"
          countNumber    = var.keep_image_count
        }
        action = { type = "expire" }
      },
    ]
  })
}
